      * C15MAP - the shape of a CICS BMS symbolic map: length, flag and
      * attribute bytes per field (FILLER REDEFINES), repeated rows, and
      * an output record that redefines the input one.
       01  SCRNI.
           02  FILLER              PIC X(12).
           02  USERL               COMP PIC S9(0004).
           02  USERF               PICTURE X.
           02  FILLER REDEFINES USERF.
             03  USERA             PICTURE X.
           02  FILLER              PICTURE X(0002).
           02  USERI               PIC X(0008).
           02  ROWS OCCURS 4 TIMES.
             03  ROWL              COMP PIC S9(0004).
             03  ROWF              PICTURE X.
             03  FILLER REDEFINES ROWF.
               04  ROWA            PICTURE X.
             03  ROWI              PIC X(0020).
       01  SCRNO REDEFINES SCRNI.
           02  FILLER              PIC X(12).
           02  FILLER              PICTURE X(0003).
           02  USERC               PICTURE X.
           02  USERH               PICTURE X.
           02  USERO               PIC X(0008).
