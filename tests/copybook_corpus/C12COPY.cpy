      * C12COPY - COPY of a member twice, REPLACING a tag each time.
       01  COPY-REC.
           05  C-ID                PIC X(4).
           05  C-SHIP.
           COPY C12ADDR REPLACING ==:PFX:== BY ==SHIP==.
           05  C-BILL.
           COPY C12ADDR REPLACING ==:PFX:== BY ==BILL==
                                  ==X(20)== BY ==X(25)==.
