      * C06ODO - OCCURS DEPENDING ON: a table whose count is a field
      * earlier in the record, items after the table, a second table.
       01  ODO-REC.
           05  D-KIND              PIC X.
           05  D-N1                PIC 9(2).
           05  D-N2                PIC S9(4) COMP.
           05  D-HEAD              PIC X(4).
           05  D-ITEMS OCCURS 1 TO 10 TIMES DEPENDING ON D-N1
                   INDEXED BY D-IX.
               10  D-ITEM-CODE     PIC X(3).
               10  D-ITEM-AMT      PIC S9(5)V99 COMP-3.
           05  D-MID               PIC X(2).
           05  D-NOTES             PIC X(5)
                   OCCURS 0 TO 4 DEPENDING ON D-N2.
           05  D-TAIL              PIC 9(3).
