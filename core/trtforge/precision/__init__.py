"""Mixed precision: float32 islands in a float16/bfloat16 graph (``keep_fp32=``), the float32
reference validation compares with, and the search that finds the islands (``keep_fp32="auto"``)."""
