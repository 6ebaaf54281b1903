/* The test images fftk firmware embedded (fftk_testset.c, generated): int8 NHWC, already
 * quantized with the model's input scale and zero point, their labels (-1 = unknown), and the
 * model's multiply-accumulates per image (from the bundle's manifest). */
#ifndef FFTK_TESTSET_H
#define FFTK_TESTSET_H

#include <stdint.h>

#include "fftk_model.h"

extern const int fftk_num_images;
extern const int8_t fftk_images[][FFTK_INPUT_SIZE];
extern const int16_t fftk_image_labels[];
extern const uint32_t fftk_macs_per_image;

#endif /* FFTK_TESTSET_H */
