      * C10FRAG - a copybook that is a fragment: it starts at level 03
      * and is meant to be copied under someone else's 01.
           03  F-KEY.
               05  F-STORE         PIC 9(3).
               05  F-DATE          PIC 9(8).
           03  F-QTY               PIC S9(7) COMP-3.
           03  F-PRICE             PIC S9(5)V99 COMP-3.
           03  F-DESC              PIC X(20).
