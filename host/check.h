/*
 * check.h — `xcshost check MODULE.lua ...`: each module compiled in its
 * sandbox, not run; syntax errors and reads of undefined globals reported.
 */
#ifndef XCS_CHECK_H
#define XCS_CHECK_H

#include "host/cli.h"

/* Checks every path; returns the exit status: 0 all fine, 1 a module has a
 * problem, 2 a file cannot be read. */
int xcs_check(const xcs_options *o, const xcs_cli_module *mods, int n);

#endif
