/* libreasonir.so is reasonir_core (all C++ sources) linked whole; this file only gives the shared target a source. */
#include "reasonir.h"
