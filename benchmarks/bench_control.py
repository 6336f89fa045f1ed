"""A fixed numpy workload timed in every run (cebench.measure.control): the machine's own
drift, measured apart from torch."""

from cebench.measure import control


class Control:
    rounds = 1

    def setup(self):
        self.logits = control.control_logits()

    def time_numpy_log_softmax(self):
        control.log_softmax_rows(self.logits)
