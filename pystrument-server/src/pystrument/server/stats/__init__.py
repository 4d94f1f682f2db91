"""Statistics over stored data: histograms, hourly roll-ups, endpoint and function summaries, version comparison,
merged flame graphs, span figures and the continuous-mode aggregates. Pure computation on what a store answers."""
