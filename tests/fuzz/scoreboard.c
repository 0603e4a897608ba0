/* scoreboard.c: the scoreboard pointer pool.c defines, for the fuzz targets that link http.c, env.c and health.c. */
#include "config.h"

#include "pool.h"

struct scoreboard *scoreboard;
