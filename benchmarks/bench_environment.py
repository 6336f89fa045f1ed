"""What the results were measured with: recorded also for --python=same runs."""

from cebench import environment


class Environment:
    rounds = 1
    repeat = 1

    def track_torch_version(self):
        return environment.torch_version_number()

    track_torch_version.unit = "version (major + minor/100 + patch/10000)"

    def track_cuda_device_count(self):
        return environment.cuda_device_count()

    track_cuda_device_count.unit = "devices"
