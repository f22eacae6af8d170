      * C11DUPS - the same names in several groups, told apart by
      * qualification (A OF B).
       01  DUP-REC.
           05  HOME.
               10  STREET          PIC X(12).
               10  CITY            PIC X(10).
               10  ZIP             PIC 9(5).
           05  WORK.
               10  STREET          PIC X(15).
               10  CITY            PIC X(8).
               10  ZIP             PIC 9(5).
           05  N-PHONES            PIC 9.
           05  PHONES OCCURS 0 TO 3 DEPENDING ON N-PHONES OF DUP-REC.
               10  ZIP             PIC X(4).
