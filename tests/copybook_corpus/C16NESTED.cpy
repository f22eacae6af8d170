      * C16NESTED - a DEPENDING ON table inside another DEPENDING ON
      * table (both counters before them), and a group after them.
       01  NEST-REC.
           05  NS-GROUPS           PIC 9(2).
           05  NS-LINES            PIC 9(2).
           05  NS-GROUP OCCURS 1 TO 5 TIMES DEPENDING ON NS-GROUPS.
               10  NS-G-ID         PIC X(3).
               10  NS-LINE OCCURS 0 TO 4 TIMES DEPENDING ON NS-LINES.
                   15  NS-L-AMT    PIC S9(5)V99 COMP-3.
                   15  NS-L-FLAG   PIC X.
               10  NS-G-END        PIC X.
           05  NS-TRAILER.
               10  NS-T-COUNT      PIC 9(4) COMP.
               10  NS-T-NOTE       PIC X(6).
