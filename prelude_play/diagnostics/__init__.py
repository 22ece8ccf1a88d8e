"""What a therapist can send to support, and what a new machine lacks: the log file and crash
reports (``logs``), ``prelude-play doctor`` (``doctor``) and ``prelude-play support-bundle``
(``bundle``). The top layer beside the command line: it may look at everything below it."""
