AB0001* C01BASIC - reference format: a sequence area holding letters, text   NOT
AB0002* in columns 73-80, comment lines with * and /, a debugging line,      NOT
AB0003* and compiler-directing EJECT, SKIP1/2/3 and TITLE.                   NOT
AB0004/ page eject as a comment line                                         NOT
       TITLE 'BASIC RECORD'.
AB0005 01  BASIC-REC.                                                        POS
AB0006     05  B-ID                PIC X(6).                                 123
AB0007     05  B-NAME              PIC A(10).                                LEV
           EJECT
AB0008     05  B-COUNT             PIC 9(4).                                 999
           SKIP1
AB0009     05  B-BALANCE           PIC S9(7)V99.                             PIC
           SKIP2
AB0010     05  B-RATE              PIC V999.                                 ...
           SKIP3
AB0011D    05  B-DEBUG             PIC X(99).                                DEB
AB0012     05  FILLER              PIC X(3).                                 FIL
AB0013     05  B-ADDR.                                                       GRO
AB0014         10  B-STREET        PIC X(20).
AB0015         10  B-CITY          PIC X(15).
AB0016         10  B-ZIP           PIC 9(5).
AB0017     05  B-FLAG              PIC X.                                    *CO
