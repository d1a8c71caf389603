int luaopen_xcs(void *L) { (void)L; return 0; }
