#include "inspect/sqli_detector.h"
#include <gtest/gtest.h>
