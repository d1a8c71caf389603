/*
 * fs.h — files under the operator's directories: fs.read, fs.lines,
 * fs.list (--read-dir, and the module's data directory), fs.write and
 * fs.remove (--data-dir, --data-quota). See fs.c for the confinement.
 */
#ifndef XCS_FS_H
#define XCS_FS_H

#include <lua.h>

/* Sets env[idx].fs, the table of the fs calls. */
void xcs_fs_open(lua_State *L, int env);

#endif
