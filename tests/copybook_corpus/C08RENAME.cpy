      * C08RENAME - level 66 RENAMES of one item and of a range.
       01  REN-REC.
           05  N-A                 PIC X(4).
           05  N-GRP.
               10  N-B             PIC 9(3).
               10  N-C             PIC X(5).
           05  N-D                 PIC S9(5) COMP-3.
           05  N-E                 PIC X(2).
       66  N-AB    RENAMES N-A THRU N-B.
       66  N-CD    RENAMES N-C THROUGH N-D.
       66  N-ONE   RENAMES N-E.
       66  N-GROUP RENAMES N-GRP.
