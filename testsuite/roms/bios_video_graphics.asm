; A boot sector for the graphics-mode text and pixel services of oxbox's
; BIOS: the byte at offset 1F0h (patched by the test) is the mode, 12h or
; 13h. It draws, then reports in hex on port 0xE9 and halts:
;   - "Hi" by AH=0Eh in colour 0Eh at row 0, column 0;
;   - "ZZ" by AH=09h in colour 0Ch at row 2, columns 3-4, then AH=07h
;     scrolls rows 2-3 of columns 3-4 down by one with fill colour 01h, so
;     the Zs end on row 3 and row 2's two cells are colour 1;
;   - AH=0Ch pixels at (200, 100), (201, 100), (202, 100) in colours 0Eh,
;     0Ch, 01h, and (100, 150) in 0Ah;
;   - reports: AH=0Dh's colour at (100, 150) and at (1, 0) (top line of
;     the H: the font's bit decides); AX=1130h BH=03h's CX (the current
;     character height) and DL (rows - 1); the first 4 bytes of glyph 'A'
;     from the 8x8 table it points at; the cursor after the Hi.

bits 16
cpu 386
org 0x7C00

%include "boot_start.inc"

start:
    BOOT_START
    sti
    movzx ax, byte [mode]
    int 0x10
    ; Hi.
    mov ax, 0x0E48
    mov bx, 0x000E
    int 0x10
    mov al, 'i'
    int 0x10
    mov ah, 0x03
    xor bh, bh
    int 0x10
    push dx
    ; ZZ at row 2, column 3.
    mov ah, 0x02
    mov dx, 0x0203
    int 0x10
    mov ax, 0x095A
    mov bx, 0x000C
    mov cx, 2
    int 0x10
    ; Scroll rows 2-3, columns 3-4 down by one, fill colour 1.
    mov ax, 0x0701
    mov bh, 0x01
    mov cx, 0x0203
    mov dx, 0x0304
    int 0x10
    ; Pixels.
    mov ah, 0x0C
    xor bh, bh
    mov dx, 100
    mov cx, 200
    mov al, 0x0E
    int 0x10
    inc cx
    mov al, 0x0C
    int 0x10
    inc cx
    mov al, 0x01
    int 0x10
    mov cx, 100
    mov dx, 150
    mov al, 0x0A
    int 0x10
    ; Read them back.
    mov ah, 0x0D
    int 0x10
    call hex8
    mov ah, 0x0D
    mov cx, 1
    xor dx, dx
    int 0x10
    call hex8
    ; Font information.
    mov ax, 0x1130
    mov bh, 0x03
    int 0x10
    mov ax, cx
    call hex16
    movzx ax, dl
    call hex16
    mov eax, [es:bp + 'A' * 8]
    call hex32
    pop ax
    call hex16
    mov al, 10
    out 0xE9, al
    cli
    hlt

hex8 equ report_hex8
hex16 equ report_hex16
hex32 equ report_hex

%include "bios_report.inc"

    times 0x1F0 - ($ - $$) db 0
mode: db 0x13
    times 510 - ($ - $$) db 0
    dw 0xAA55
