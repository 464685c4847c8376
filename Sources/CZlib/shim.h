// zlib: gzip inflation for IDX files and CRC-32 for checkpoints.
#include <zlib.h>
