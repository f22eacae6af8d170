      * C07SYNC - SYNCHRONIZED binary and floating items: slack bytes
      * inside the record and between occurrences of a table.
       01  SYNC-REC.
           05  S-A                 PIC X.
           05  S-HALF              PIC S9(4) COMP SYNC.
           05  S-B                 PIC X.
           05  S-FULL              PIC S9(9) COMP SYNCHRONIZED.
           05  S-C                 PIC X(3).
           05  S-DBL               PIC S9(18) COMP SYNC LEFT.
           05  S-D                 PIC X.
           05  S-FLOAT             COMP-1 SYNC.
           05  S-TAB OCCURS 3.
               10  S-T1            PIC X.
               10  S-T2            PIC S9(9) COMP SYNC.
               10  S-T3            PIC X(2).
           05  S-E                 PIC X.
