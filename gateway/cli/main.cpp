// rpm-gateway entry point: the composition root.
#include "gateway/cli/Commands.h"

int main(int argc, char** argv) { return rpm::cli::runCommandLine(argc, argv); }
