# The optimizer kernels call sqrt in loops: -fno-math-errno lets them vectorize (no result
# changes; errno is never set because the inputs are >= 0).
$(BUILD)/rel/optim/update.o $(BUILD)/san/optim/update.o: ALLFLAGS += -fno-math-errno
