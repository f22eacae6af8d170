       >>SOURCE FORMAT FREE
*> C14FREE - free format: no sequence or indicator area.
01 FREE-REC.
  05 FR-A PIC X(5).   *> a floating comment
  05 FR-B PIC S9(5)V99
       USAGE COMP-3.
  05 FR-C OCCURS 2 TIMES PIC 9(3).
