# The model zoo: `make zoo` builds and trains each examples/ zoo model briefly (one line
# each, one thread); their PyTorch twins are examples/torch/*.py (tests/test_zoo.c).
ZOO := char_gpt char_lstm autoencoder_fashion resnet_fashion dcgan_fashion

zoo: $(addprefix $(BUILD)/examples/,$(ZOO))
	@for z in $(ZOO); do OMP_NUM_THREADS=1 $(BUILD)/examples/$$z --steps 100 --quiet || exit 1; done
.PHONY: zoo
