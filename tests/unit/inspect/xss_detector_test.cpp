#include "inspect/xss_detector.h"
#include <gtest/gtest.h>
