/* web_assets.h — files of src/server/web/ embedded into the binary (build/gen/web_assets.c). */
#ifndef AM_SERVER_WEB_ASSETS_H
#define AM_SERVER_WEB_ASSETS_H

typedef struct web_asset {
    const char *path;               /* "/index.html"                                           */
    const unsigned char *data;      /* NUL-terminated                                          */
    unsigned int size;              /* without the NUL                                         */
} web_asset;

extern const web_asset am_web_assets[];
extern const int am_web_n_assets;

#endif
