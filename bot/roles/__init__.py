"""What each process role builds, and nothing more: the front (``front``), the work process
(``work``), the poller-only ``failover-bot worker`` (``worker``) and the single process of
the sandbox and the tests (``single``). ``bot.serve`` runs the front and starts the work
process (``bot.work_process``)."""
