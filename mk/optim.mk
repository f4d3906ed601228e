# The optimizer kernels call sqrt in loops: -fno-math-errno lets them vectorize (no result
# changes; errno is never set because the inputs are >= 0). Every file in optim/ gets it,
# so a new optimizer's file needs no line here.
$(BUILD)/rel/optim/%.o $(BUILD)/san/optim/%.o: ALLFLAGS += -fno-math-errno
