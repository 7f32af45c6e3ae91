// One real Asterisk, shared: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
