; A Bochs VBE mode: 640x480 at 32 bits per pixel through the dispi
; registers (index 0x1CE, data 0x1CF), drawn through the linear
; framebuffer at its power-on address 0xE0000000 (no firmware moved the
; BAR) from "unreal" mode (FS with a 4 GiB limit); exits through port
; 0xF4 (status 0x25).
;
; Pixels: blue = x, green = y, red = x XOR y (low 8 bits each), as the
; dword 00RRGGBB at LFB + 4 * (640y + x).

%include "vga.inc"
cpu 386

LFB equ 0xE0000000

%macro dispi 2
    mov dx, 0x1CE
    mov ax, %1
    out dx, ax
    mov dx, 0x1CF
    mov ax, %2
    out dx, ax
%endmacro

rom_start
    dispi 4, 0                  ; ENABLE: off while the mode changes
    dispi 1, 640                ; XRES
    dispi 2, 480                ; YRES
    dispi 3, 32                 ; BPP
    dispi 4, 0x41               ; ENABLED | LFB_ENABLED
    ; The attribute controller's PAS bit (display enable), as a BIOS
    ; leaves it after its mode set.
    mov dx, 0x3DA
    in al, dx
    mov dx, 0x3C0
    mov al, 0x20
    out dx, al
    ; Unreal mode: load FS in protected mode with a flat 4 GiB data
    ; segment and come back; the segment cache keeps the limit.
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp short .pm
.pm:
    mov bx, 8
    mov fs, bx
    and al, 0xFE
    mov cr0, eax
    jmp short .rm
.rm:
    mov edi, LFB
    xor edx, edx                ; y
.line:
    xor ecx, ecx                ; x
.pixel:
    mov eax, ecx
    xor eax, edx
    and eax, 0xFF
    shl eax, 8
    mov al, dl
    shl eax, 8
    mov al, cl
    mov [fs:edi], eax
    add edi, 4
    inc ecx
    cmp ecx, 640
    jb .pixel
    inc edx
    cmp edx, 480
    jb .line
    exit_with 0x12

gdt:
    dq 0
    dq 0x00CF92000000FFFF       ; flat data, 4 GiB, writable
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd 0xF0000 + gdt

rom_end
