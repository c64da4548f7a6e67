/* mlc-twilio-sim — Twilio and SendGrid simulator (work in progress). */
#include "mlc.h"

int
main(int argc, char **argv)
{
	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, "usage: mlc-twilio-sim --port N\n");
	mlc_die(MLC_EX_SOFTWARE, "not implemented yet");
}
