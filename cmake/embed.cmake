# Turns a text file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=sym -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
  "/* Generated from ${IN}; do not edit. */\n#include <stddef.h>\n"
  "const char ${NAME}[] = {${bytes} 0};\n"
  "const size_t ${NAME}_len = ${n};\n")
