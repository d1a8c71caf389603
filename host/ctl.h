/*
 * ctl.h — the client side of the control socket (see control.h).
 */
#ifndef XCS_CTL_H
#define XCS_CTL_H

/* argv: PATH COMMAND [ARGS]. Prints the answer; returns the exit status:
 * 0, 1 when the host answered with an error, 2 when it could not be asked. */
int xcs_ctl(char **argv, int argc);

#endif
