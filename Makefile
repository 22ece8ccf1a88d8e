# Aliases for ./dev, which needs nothing but python3 (make is not on every fresh machine).
.PHONY: run test bench clean
run:
	./dev run $(ARGS)
test:
	./dev test $(PYTEST_ARGS)
bench:
	./dev bench $(ARGS)
clean:
	rm -rf .venv build *.egg-info
