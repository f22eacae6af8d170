      * C04REDEF - REDEFINES at every level: elementary, group, a
      * FILLER that redefines, a longer redefining group, and a second
      * 01 record that redefines the first.
       01  REDEF-REC.
           05  R-TYPE              PIC X.
           05  R-AMOUNT-X          PIC X(6).
           05  R-AMOUNT REDEFINES R-AMOUNT-X
                                   PIC S9(9)V99 COMP-3.
           05  R-AMOUNT-N REDEFINES R-AMOUNT-X
                                   PIC 9(6).
           05  R-BODY.
               10  R-NAME          PIC X(10).
               10  R-AGE           PIC 9(3).
           05  R-BODY-ALT REDEFINES R-BODY.
               10  R-ALT-CODE      PIC X(4).
               10  R-ALT-NUM       PIC S9(9) COMP.
               10  R-ALT-REST      PIC X(9).
           05  FILLER REDEFINES R-BODY.
               10  R-FIRST-BYTE    PIC X.
           05  R-TAIL              PIC X(2).
           05  R-TAIL-N REDEFINES R-TAIL PIC 99.
       01  REDEF-REC-2 REDEFINES REDEF-REC.
           05  R2-ALL              PIC X(30).
