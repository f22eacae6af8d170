      * C03EDIT - edited pictures, BLANK WHEN ZERO, JUSTIFIED.
       01  EDIT-REC.
           05  E-AMT1              PIC ZZZ,ZZ9.99.
           05  E-AMT2              PIC --,---,--9.99.
           05  E-AMT3              PIC $$$,$$9.99CR.
           05  E-AMT4              PIC +++9.
           05  E-AMT5              PIC ***,**9.99DB.
           05  E-DATE              PIC 99/99/9999.
           05  E-CODE              PIC XXBXX0XX.
           05  E-DEC               PIC 9(8).9(2).
           05  E-BWZ               PIC ZZ9 BLANK WHEN ZERO.
           05  E-JUST              PIC X(8) JUSTIFIED RIGHT.
           05  E-JUST2             PIC X(4) JUST.
