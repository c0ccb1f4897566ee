# Turns the file IN into a C source OUT defining `const char openapi_doc[]` and `openapi_doc_len`.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* generated from docs/openapi.json by cmake/embed.cmake */\n#include <stddef.h>\nconst char openapi_doc[] = {${body} 0};\nconst size_t openapi_doc_len = ${len};\n")
