      * C02USAGE - every USAGE, signs, P scaling, group USAGE.
       01  USAGE-REC.
           05  U-DISP              PIC S9(5).
           05  U-COMP              PIC S9(4) COMP.
           05  U-COMP4             PIC 9(9) COMP-4.
           05  U-BIN               PIC S9(18) BINARY.
           05  U-COMP5             PIC S9(4) COMP-5.
           05  U-COMP5-W           PIC 9(8) USAGE IS COMPUTATIONAL-5.
           05  U-PACK              PIC S9(7)V99 COMP-3.
           05  U-PACK-EVEN         PIC 9(6) PACKED-DECIMAL.
           05  U-FLOAT             COMP-1.
           05  U-DOUBLE            USAGE COMP-2.
           05  U-LEAD-SEP          PIC S9(5) SIGN LEADING SEPARATE.
           05  U-TRAIL-SEP         PIC S9(3)V9 SIGN IS TRAILING
                                       SEPARATE CHARACTER.
           05  U-LEAD              PIC S9(4) LEADING.
           05  U-SCALE-R           PIC 999PPP.
           05  U-SCALE-L           PIC SVPPP99 COMP-3.
           05  U-BIG               PIC S9(31) COMP-3.
           05  U-NAT               PIC N(6).
           05  U-NAT2              PIC N(3) USAGE NATIONAL.
           05  U-GRP               USAGE COMP-3.
               10  U-G1            PIC S9(3).
               10  U-G2            PIC 9(5)V9.
           05  U-GRP-SIGN          SIGN IS LEADING SEPARATE.
               10  U-GS1           PIC S99.
               10  U-GS2           PIC S9(4).
           05  U-END               PIC X.
