      * C13MULTI - several record types in one copybook.
       01  M-HEADER.
           05  M-H-TYPE            PIC X.
               88  M-IS-HEADER         VALUE 'H'.
           05  M-H-DATE            PIC 9(8).
           05  M-H-BATCH           PIC 9(4) COMP.
       01  M-DETAIL.
           05  M-D-TYPE            PIC X.
           05  M-D-COUNT           PIC 9(2).
           05  M-D-LINE OCCURS 0 TO 9 DEPENDING ON M-D-COUNT.
               10  M-D-SKU         PIC X(6).
               10  M-D-QTY         PIC S9(5) COMP-3.
       01  M-TRAILER.
           05  M-T-TYPE            PIC X.
           05  M-T-TOTAL           PIC S9(11)V99 COMP-3.
       77  M-STANDALONE            PIC X(7).
