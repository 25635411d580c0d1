; Mode 13h (320x200, 256 colours) programmed from the IBM register values,
; with a DAC palette and a pixel pattern of the ROM's own; exits through
; port 0xF4 (status 0x23).
;
; Palette: entry i is (i >> 2, 5i mod 64, 63 - (i >> 2)).
; Pixels: (x + 3y) XOR (y >> 1), low 8 bits, at A000:(320y + x).

%include "vga.inc"
cpu 386

rom_start
    mov si, mode13_regs
    call vga_program
    mov si, palette
    xor al, al
    mov cx, 256
    call dac_load
    mov ax, 0xA000
    mov es, ax
    xor di, di
    xor dx, dx                  ; y
.line:
    xor cx, cx                  ; x
.pixel:
    mov ax, dx
    imul ax, ax, 3
    add ax, cx
    mov bx, dx
    shr bx, 1
    xor ax, bx
    stosb
    inc cx
    cmp cx, 320
    jb .pixel
    inc dx
    cmp dx, 200
    jb .line
    exit_with 0x11

mode13_regs:
    db 0x63
    db 0x03, 0x01, 0x0F, 0x00, 0x0E
    db 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00
    db 0x00, 0x00, 0x00, 0x00, 0x9C, 0x0E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF
    db 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF
    db 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
    db 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
    db 0x41, 0x00, 0x0F, 0x00, 0x00

palette:
%assign i 0
%rep 256
    db i >> 2, (5 * i) % 64, 63 - (i >> 2)
%assign i i + 1
%endrep

rom_end
