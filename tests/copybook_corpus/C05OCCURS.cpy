      * C05OCCURS - fixed OCCURS on items and groups, nested, with
      * KEY and INDEXED BY phrases.
       01  OCC-REC.
           05  O-COUNT             PIC 9(2).
           05  O-CODES             PIC X(3) OCCURS 4 TIMES.
           05  O-TABLE OCCURS 3 TIMES
                   ASCENDING KEY IS O-KEY
                   INDEXED BY O-IX O-IX2.
               10  O-KEY           PIC X(2).
               10  O-AMT           PIC S9(5)V99 COMP-3.
               10  O-SUB OCCURS 2 INDEXED BY O-SX.
                   15  O-SUB-A     PIC X.
                   15  O-SUB-B     PIC 9(3) COMP.
           05  O-GRID.
               10  O-ROW OCCURS 2.
                   15  O-CELL      PIC 9 OCCURS 3.
           05  O-LAST              PIC X(4).
