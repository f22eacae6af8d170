      * C12ADDR - member copied by C12COPY (not a record on its own).
               10  :PFX:-NAME      PIC X(20).
               10  :PFX:-ZIP       PIC 9(5).
