// The system SQLite (Debian's libsqlite3-dev, 3.40). SQLITE_TRANSIENT is a macro over a cast
// Swift cannot import, so Sources/Store defines it with unsafeBitCast.
#ifndef LONGREWARD_CSQLITE_SHIM_H
#define LONGREWARD_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
