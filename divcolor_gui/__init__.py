"""divcolor: diverse colorizations of black-and-white photos."""
