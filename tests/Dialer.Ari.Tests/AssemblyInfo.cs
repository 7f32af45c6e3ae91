// The tests run real sockets and timers against the emulator: one at a time, so a busy CI machine does not skew their timing.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
