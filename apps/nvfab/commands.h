/* One entry point per command; argv[0] is the command name. Return the exit status. */
#ifndef NVFAB_APPS_COMMANDS_H
#define NVFAB_APPS_COMMANDS_H

int cmd_discover(int argc, char **argv);
int cmd_identify(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_perf(int argc, char **argv);
int cmd_rpc(int argc, char **argv);

#endif
