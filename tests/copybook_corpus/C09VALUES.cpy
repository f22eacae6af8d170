      * C09VALUES - VALUE in every form: figurative constants, ALL,
      * doubled quotes, hexadecimal, a literal continued on the next
      * line, and 88 levels with lists, ranges and THRU.
       01  VAL-REC.
           05  V-STATUS            PIC X VALUE SPACE.
               88  V-OK                VALUE 'Y'.
               88  V-BAD               VALUE 'N' 'X' 'Z'.
               88  V-LETTER            VALUE 'A' THRU 'I'
                                             'J' THROUGH 'R'.
           05  V-QUOTE             PIC X(8) VALUE 'DON''T'.
           05  V-QUOTE2            PIC X(8) VALUE "SAY ""HI""".
           05  V-STARS             PIC X(5) VALUE ALL '*'.
           05  V-ZERO              PIC 9(4) VALUE ZEROS.
           05  V-HIGH              PIC X(2) VALUE HIGH-VALUES.
           05  V-LOW               PIC X(2) VALUE LOW-VALUE.
           05  V-HEX               PIC X(2) VALUE X'C1C2'.
           05  V-NUM               PIC S9(3)V99 VALUE -12.50.
               88  V-SMALL             VALUE -1 THRU 1.
               88  V-ZERO-AMT          VALUE ZERO.
           05  V-LONG              PIC X(80) VALUE 'THIS LITERAL IS LONGE
      -    'R THAN ONE LINE AND IS CONTINUED'.
           05  V-QUOTES            PIC X(3) VALUE QUOTES.
           05  V-COUNT             PIC 9(2) VALUE 7.
               88  V-COUNT-RANGE       VALUES ARE 1 THRU 5, 9.
       01  V-SHARED IS GLOBAL.
           05  V-SH-A              PIC X(3).
       01  V-EXT                   PIC X(4) IS EXTERNAL.
