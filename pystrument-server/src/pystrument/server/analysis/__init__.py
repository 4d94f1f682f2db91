"""Analysis jobs: the in-process worker that runs analysers and AI providers on records, the automatic
slow-record analysis, performance budgets, the advice index and check, and the state of those periodic jobs."""
