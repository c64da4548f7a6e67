/*
 * mlc-conf — where the configuration, the rules and the state live, and one
 * setting of the configuration file, for the orchestrator and for people.
 * It asks conf.c, as every program does, so the shell never parses the
 * configuration nor decides a path on its own: what mlc-conf prints is what
 * the programs use.
 *
 * usage: mlc-conf [-c CONF] path              the configuration file
 *        mlc-conf [-c CONF] state-dir         the state directory
 *        mlc-conf [-c CONF] rules-dir         the rules directory
 *        mlc-conf [-c CONF] get SECTION KEY   one value
 *        mlc-conf log LEVEL < LINES          the orchestrator's messages
 *
 * path is printed whether or not the file exists.  get prints the value as
 * the programs read it: continuation lines joined with newlines.  Nothing
 * here reads a secret: the configuration holds none (they are in the vault,
 * which mlc-conf never opens), and nothing is created.
 *
 * log writes each line of stdin as a message of ml-connector (the
 * orchestrator, a shell script, has no other way to the one message form of
 * util.c): LEVEL is error, warning, info or debug.
 *
 * Exit: 0; 1 get: not set, or there is no configuration file; 64 usage; 74
 * write error on stdout; 78 the configuration cannot be read or parsed.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: mlc-conf [-c CONF] path\n"
	"       mlc-conf [-c CONF] state-dir\n"
	"       mlc-conf [-c CONF] rules-dir\n"
	"       mlc-conf [-c CONF] get SECTION KEY\n"
	"       mlc-conf log error|warning|info|debug < LINES\n";

/* log LEVEL: each line of stdin, a message of the orchestrator. */
static void
do_log(const char *level)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "error", MLC_LOG_ERR }, { "warning", MLC_LOG_WARNING },
		{ "info", MLC_LOG_INFO }, { "debug", MLC_LOG_DEBUG },
	};
	char *line = NULL;
	size_t cap = 0, i;
	ssize_t n;

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (strcmp(level, levels[i].name) == 0)
			break;
	if (i == sizeof levels / sizeof levels[0])
		mlc_util_usage(usage, "log %s: expected error, warning, info or debug", level);
	mlc_progname = "ml-connector";
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		mlc_log_line(levels[i].level, line, (size_t)n);
	}
	free(line);
	mlc_util_exit(MLC_EX_OK);
}

static const struct option lopts[] = {
	{ NULL, 0, NULL, 0 }
};

static void usage_error(void) MLC_NORETURN;

static void
usage_error(void)
{
	mlc_util_usage(usage, NULL);
}

int
main(int argc, char **argv)
{
	const char *cmd, *dir;
	char err[1024], *v;
	int c, k;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	while ((c = getopt_long(argc, argv, "+c:", lopts, NULL)) != -1) {
		if (c == 'c')
			mlc_config_use(optarg);
		else
			usage_error();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error();
	cmd = argv[0];
	if (strcmp(cmd, "log") == 0) {
		if (argc != 2)
			usage_error();
		do_log(argv[1]);
	}
	if (strcmp(cmd, "get") == 0) {
		if (argc != 3)
			usage_error();
		if ((k = mlc_config_lookup(argv[1], argv[2], &v, err, sizeof err)) < 0)
			mlc_die(MLC_EX_CONFIG, "%s", err);
		if (k)
			printf("%s\n", v);
		free(v);
		mlc_util_exit(k ? MLC_EX_OK : 1);
	}
	if (argc != 1)
		usage_error();
	if (strcmp(cmd, "path") == 0)
		dir = mlc_config_path();
	else if (strcmp(cmd, "state-dir") == 0)
		dir = mlc_state_dir(NULL, err, sizeof err);
	else if (strcmp(cmd, "rules-dir") == 0)
		dir = mlc_rule_dir(NULL, err, sizeof err);
	else
		usage_error();
	if (!dir)
		mlc_die(MLC_EX_CONFIG, "%s", err);
	printf("%s\n", dir);
	mlc_util_exit(MLC_EX_OK);
}
