// libzip: reading the members of NPZ archives (zip64 included), each inflated by zlib.
#include <zip.h>
