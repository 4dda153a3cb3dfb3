"""The exit statuses every ``hub`` command uses (README, "Exit status")."""

EXIT_OK = 0
#: bad input (an invalid line or record; a LATE line is reported, not bad) or a failed delivery
EXIT_BAD_INPUT = 1
#: usage: a wrong flag, a missing or unusable file or directory, a bad configuration
EXIT_USAGE = 2
#: not ready: Kafka does not answer, or the topic is not there
EXIT_NOT_READY = 3
#: stdout was closed under the command (``hub ... | head``): 128 + SIGPIPE, as for ``cat``
EXIT_BROKEN_PIPE = 141
